"""``run_cell``: fit, sample, validate, extract features, compute metrics,
and describe the run as a record — with every plugin failure contained."""

from __future__ import annotations

import contextlib
import functools
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from genbench import __version__
from genbench.checkpoints import Checkpoint
from genbench.features.base import FeatureExtractor
from genbench.features.cache import FeatureCache
from genbench.grid import Cell
from genbench.hookcall import HookFailure, call_hook
from genbench.metrics.engine import Reference, prepare_reference, sample_metrics
from genbench.metrics.info import METRICS
from genbench.metrics.likelihood import likelihood_metrics
from genbench.metrics.reconstruction import reconstruction_metrics
from genbench.plugins import get_plugin_manager
from genbench.provenance import host, library_versions, source_commits
from genbench.registry import Registry
from genbench.results import SCHEMA_VERSION, config_hash
from genbench.tasks.base import SampleValidationError, Task
from genbench.validation import validate_log_likelihood

PREVIEW_SAMPLES = 64
_PREPARED: dict[tuple[str, ...], Reference] = {}
_PREPARED_LIMIT = 8
"""Prepared references kept per process (oldest dropped first): later
models on the same task reuse their covariance factor and real-side KID sums."""
REFERENCE_VERSION = "1"
"""Bumped when the prepared-reference computation changes, so cached
references from older code are not reused."""


@dataclass(frozen=True)
class RunSettings:
    """Where and how runs execute; identical on every worker.

    Attributes:
        results_dir: records are written here (by the driver).
        cache_dir: checkpoints and features are cached here (by workers).
        hook_timeout: seconds one hook call may take before the run fails.
        plugin_files: plugin ``.py`` files every worker loads.
    """

    results_dir: Path
    cache_dir: Path
    hook_timeout: float | None = 3600.0
    plugin_files: tuple[str, ...] = ()


@dataclass
class CellOutcome:
    """What ``run_cell`` returns to the driver: the record and a few samples
    for the leaderboard's preview."""

    record: dict[str, Any]
    preview: Any = None
    timings: dict[str, float] = field(default_factory=dict)


@functools.cache
def worker_registry(plugin_files: tuple[str, ...]) -> Registry:
    """The registry of a worker process, built once per set of plugin files."""
    return Registry(get_plugin_manager(plugin_files))


def execute_cell(cell: Cell, config: dict[str, Any], settings: RunSettings) -> CellOutcome:
    """Entry point for process-pool and Dask workers: build (once) this
    process's plugin registry from ``settings`` and run the cell on one
    thread (parallelism comes from the workers; one thread per worker also
    keeps floating-point reductions in the same order as a single-threaded
    serial run)."""
    return run_cell(cell, config, settings, worker_registry(settings.plugin_files))


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run torch and the BLAS libraries on one thread inside the block; the
    previous torch setting is restored on exit."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(previous)


def run_cell(
    cell: Cell, config: dict[str, Any], settings: RunSettings, registry: Registry
) -> CellOutcome:
    """Run one cell on one thread (see :func:`one_thread`) and describe it as
    a record; never raises for a plugin's fault. A failure becomes
    ``status: failed`` with the plugin, hook and reason; the partial timings
    and metrics gathered so far are kept.

    Every executor runs cells this way, so a serial run and a worker pool
    reduce floating-point sums in the same order; on a small machine it also
    keeps torch's idle OpenMP threads from spinning on the cores the other
    workers use (measured: a RealNVP fit took 176 s of wall time instead of
    about 35 s with a second worker running).
    """
    with one_thread():
        return _run_cell(cell, config, settings, registry)


def _run_cell(
    cell: Cell, config: dict[str, Any], settings: RunSettings, registry: Registry
) -> CellOutcome:
    started = datetime.now(timezone.utc)
    spec = registry.model(cell.model)
    task = registry.task(cell.task)
    run = _CellRun(cell, config, settings, registry, spec.plugin)
    preview = None
    status, failure = "ok", None
    try:
        preview = run.execute(task)
    except HookFailure as exc:
        status, failure = "failed", exc.as_dict()
    except Exception as exc:  # a genbench bug must not stop the grid either
        status = "failed"
        failure = {
            "plugin": "genbench",
            "hook": run.stage,
            "reason": f"{type(exc).__name__}: {exc}",
            "error_type": type(exc).__name__,
            "traceback": traceback.format_exc(limit=8),
        }
    finished = datetime.now(timezone.utc)
    record = {
        "schema_version": SCHEMA_VERSION,
        "config_hash": config_hash(config),
        "config": config,
        "task_info": {"modality": task.modality, "primary_metric": task.primary_metric},
        "status": status,
        "failure": failure,
        "metrics": run.metrics,
        "likelihood": run.likelihood,
        "counts": run.counts,
        "feature_extractor": run.extractor,
        "model_info": run.info,
        "timings": {k: round(v, 4) for k, v in run.timings.items()},
        "provenance": {
            "genbench_version": __version__,
            "git_commit": source_commits(),
            "libraries": library_versions(),
            "host": host(),
            "started_at": started.isoformat(),
            "finished_at": finished.isoformat(),
            "checkpoint": run.checkpoint_digest,
        },
    }
    return CellOutcome(record=record, preview=preview)


class _CellRun:
    """The steps of one cell; attributes accumulate what the record reports."""

    def __init__(
        self,
        cell: Cell,
        config: dict[str, Any],
        settings: RunSettings,
        registry: Registry,
        plugin: str,
    ) -> None:
        self.cell, self.config, self.settings = cell, config, settings
        self.registry, self.plugin = registry, plugin
        self.pm = registry.pm
        self.stage = "setup"
        self.metrics: dict[str, float] = {}
        self.likelihood: dict[str, Any] = {}
        self.counts: dict[str, int] = {}
        self.extractor: dict[str, Any] = {}
        self.info: dict[str, float] = {}
        self.timings: dict[str, float] = {}
        self.checkpoint_digest: str | None = None
        self.features = FeatureCache(Path(settings.cache_dir) / "features")

    def hook(self, name: str, **kwargs: Any) -> Any:
        self.stage = name
        start = time.perf_counter()
        try:
            return call_hook(
                self.pm, name, plugin=self.plugin, timeout=self.settings.hook_timeout, **kwargs
            )
        finally:
            self.timings[f"{name}_s"] = time.perf_counter() - start

    def fail(self, hook: str, exc: Exception) -> HookFailure:
        return HookFailure(self.plugin, hook, str(exc), type(exc).__name__)

    def execute(self, task: Task) -> Any:
        spec = self.registry.model(self.cell.model)
        budget, seeds = self.cell.budget, self.config["seeds"]
        n = self.config["n_samples"]

        checkpoint = Checkpoint(
            Path(self.settings.cache_dir) / "checkpoints",
            {
                "plugin": spec.plugin,
                "plugin_version": spec.plugin_version,
                "network": spec.trains_as or spec.name,
                "hyperparameters": self.config["hyperparameters"],
                "task_fingerprint": self.config["task_fingerprint"],
                "seed": seeds["fit"],
                "budget": budget,
            },
        )
        self.checkpoint_digest = checkpoint.digest
        cached = checkpoint.path.exists()
        model = self.hook(
            "fit", spec=spec, task=task, budget=budget, seed=seeds["fit"], checkpoint=checkpoint
        )
        if not cached:
            checkpoint.record_training_seconds(self.timings["fit_s"])
        self.metrics["train_seconds"] = checkpoint.training_seconds() or self.timings["fit_s"]
        self.info = self.model_info(model)
        self.metrics.update({k: v for k, v in self.info.items() if k in METRICS})

        samples = self.hook("sample", model=model, n=n, seed=seeds["sample"])
        self.stage = "sample"
        try:
            samples = task.validate_samples(samples, n)
        except SampleValidationError as exc:
            raise self.fail("sample", exc) from exc
        self.metrics["samples_per_second"] = n / max(self.timings["sample_s"], 1e-9)
        self.metrics["sample_seconds"] = self.timings["sample_s"]
        self.counts["n_generated"] = n

        self.stage = "metrics"
        self.evaluate_samples(task, samples)
        if "log_likelihood" in spec.capabilities:
            self.evaluate_likelihood(task, model)
        if "reconstruct" in spec.capabilities:
            self.evaluate_reconstruction(task, model)
        return samples[:PREVIEW_SAMPLES]

    def model_info(self, model: Any) -> dict[str, float]:
        try:
            info = call_hook(self.pm, "model_info", plugin=self.plugin, timeout=60, model=model)
        except HookFailure as exc:
            if exc.error_type != "NotImplementedError":
                raise
            info = {}
        if "parameters" not in info and isinstance(model, torch.nn.Module):
            info = {**info, "parameters": sum(p.numel() for p in model.parameters())}
        return {k: float(v) for k, v in info.items()}

    def evaluate_samples(self, task: Task, samples: Any) -> None:
        start = time.perf_counter()
        extractor = task.feature_extractor()
        reference = self.reference(task, extractor)
        generated = extractor.features(samples)
        probabilities = extractor.class_probabilities(samples)
        self.timings["features_s"] = time.perf_counter() - start
        start = time.perf_counter()
        scores = sample_metrics(reference, generated, generated_probs=probabilities)
        scores[task.frechet_metric] = scores.pop("fid")
        self.metrics.update(scores)
        self.metrics.update(task.extra_metrics(samples))
        self.timings["metrics_s"] = time.perf_counter() - start
        real = task.reference(self.cell.budget)
        self.counts.update({"n_real": len(real), "n_train": len(task.load().train)})
        if "kid_subset_size" in self.metrics:
            self.counts["kid_subset_size"] = int(self.metrics.pop("kid_subset_size"))
        self.extractor = {
            "name": extractor.name,
            "dim": int(extractor.dim),
            "weights_sha256": extractor.weights_sha256(),
        }

    def reference(self, task: Task, extractor: FeatureExtractor) -> Reference:
        """The prepared real side (statistics, k-NN radii, training
        neighbours): kept in this process, else read from the on-disk cache,
        else computed from cached features. Its key holds the task's content
        fingerprint and the extractor's weights hash."""
        real = task.reference(self.cell.budget)
        key = (
            "reference",
            REFERENCE_VERSION,
            self.config["task_fingerprint"],
            extractor.name,
            extractor.weights_sha256(),
            str(len(real)),
        )
        if key not in _PREPARED:

            def prepare() -> dict[str, np.ndarray]:
                real_features = self.features.features(extractor, real)
                train_features = self.features.features(extractor, task.load().train)
                return prepare_reference(real_features, train_features).to_arrays()

            if len(_PREPARED) >= _PREPARED_LIMIT:
                _PREPARED.pop(next(iter(_PREPARED)))
            _PREPARED[key] = Reference.from_arrays(self.features.arrays(list(key), prepare))
        return _PREPARED[key]

    def evaluate_likelihood(self, task: Task, model: Any) -> None:
        x = task.likelihood_batch(self.cell.budget)
        discrete = task.discrete
        result = self.hook("log_likelihood", model=model, x=x)
        try:
            result = validate_log_likelihood(result, len(x), discrete=discrete)
        except SampleValidationError as exc:
            raise self.fail("log_likelihood", exc) from exc
        self.stage = "metrics"
        self.metrics.update(
            likelihood_metrics(result.nats, task.dimension_counts(x), discrete=discrete)
        )
        self.likelihood = {
            "exact": bool(result.exact),
            "method": result.method,
            "details": dict(result.details),
        }
        self.counts["likelihood_examples"] = len(x)

    def evaluate_reconstruction(self, task: Task, model: Any) -> None:
        x = task.reconstruction_batch(self.cell.budget)
        x_hat = self.hook("reconstruct", model=model, x=x)
        try:
            x_hat = task.validate_samples(x_hat, len(x))
        except SampleValidationError as exc:
            raise self.fail("reconstruct", exc) from exc
        self.stage = "metrics"
        image_levels = task.levels if task.modality == "image" else None  # audio: waveform MSE
        self.metrics.update(
            reconstruction_metrics(_as_array(x), _as_array(x_hat), levels=image_levels)
        )
        self.counts["reconstruction_examples"] = len(x)


def _as_array(x: Any) -> np.ndarray:
    return x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
